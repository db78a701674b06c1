// SPDX-License-Identifier: MIT
#include "tests/common.h"
int main(void)
{
	return done_testing();
}
