#!/usr/bin/env bash
# Train through Slurm's srun: GPUS tasks in all (default 8), GPUS_PER_NODE per node,
# CPUS_PER_TASK cores each (default 5), extra srun options in SRUN_ARGS, GRES= on CPU partitions.
#   GPUS=16 GPUS_PER_NODE=8 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR \
#       [train.py options]
# In a requeued job (SLURM_RESTART_COUNT > 0) it adds --resume unless given.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/dist_common.sh"

(( $# >= 4 )) ||
    die "usage: bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]"
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
shift 4
require_file config "$CONFIG"
# A job that Slurm has requeued (after preemption, or `scontrol requeue` when PreemptionHook left
# WORK_DIR/preempted) continues from its last checkpoint: docs/distributed.md.
if (( ${SLURM_RESTART_COUNT:-0} > 0 )) && [[ " $* " != *" --resume"* ]]; then
    set -- "$@" --resume
fi
srun_launch "$PARTITION" "$JOB_NAME" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" \
    --launcher slurm "$@"
