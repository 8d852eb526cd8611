/* SPDX-License-Identifier: BSD-3-Clause */
/* The EAL runtime directory of a run that chose its own --file-prefix, removed at its end. */
#ifndef DP_RUNDIR_H
#define DP_RUNDIR_H

/*
 * EAL leaves its runtime directory (config, fbarray files, sockets) behind.
 * A run that chose its own prefix removes it, so analysing many captures or
 * running many benchmarks does not fill /var/run/dpdk. Only plain files one
 * level deep; the directory itself last.
 */
void dp_rundir_remove(const char *dir);

#endif /* DP_RUNDIR_H */
