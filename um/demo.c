// SPDX-License-Identifier: MIT
#include "um/um.h"
int um_demo_main(int argc, char **argv) { (void)argc; (void)argv; return 0; }
