#!/usr/bin/env bash
# Evaluate CHECKPOINT on GPUS processes of this node with torchrun (NNODES, NODE_RANK,
# MASTER_ADDR, MASTER_PORT as for tools/dist_train.sh; CPU + gloo without CUDA).
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py options]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/dist_common.sh"

(( $# >= 3 )) || die "usage: bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]"
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
require_file config "$CONFIG"
require_file checkpoint "$CHECKPOINT"
torchrun_launch "$GPUS" tools/test.py "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
