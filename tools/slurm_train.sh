#!/usr/bin/env bash
# Train through Slurm's srun: GPUS tasks in all (default 8), GPUS_PER_NODE per node,
# CPUS_PER_TASK cores each (default 5), extra srun options in SRUN_ARGS, GRES= on CPU partitions.
#   GPUS=16 GPUS_PER_NODE=8 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR \
#       [train.py options]
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
srun_launch "$PARTITION" "$JOB_NAME" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" \
    --launcher slurm "$@"
