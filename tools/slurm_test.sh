#!/usr/bin/env bash
# Evaluate CHECKPOINT through Slurm's srun (GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS, GRES
# as for tools/slurm_train.sh).
#   bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/dist_common.sh"

(( $# >= 4 )) ||
    die "usage: bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]"
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
shift 4
require_file config "$CONFIG"
require_file checkpoint "$CHECKPOINT"
srun_launch "$PARTITION" "$JOB_NAME" tools/test.py "$CONFIG" "$CHECKPOINT" --launcher slurm "$@"
