/* SPDX-License-Identifier: MIT */
#ifndef UMM_HOST_INTERNAL_H
#define UMM_HOST_INTERNAL_H

#include "host/host.h"

/* Add a new space to the list that resets walk. */
void host_as_register(struct host_as *as);

#endif
