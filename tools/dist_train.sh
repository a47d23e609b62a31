#!/usr/bin/env bash
# Train on GPUS processes of this node with torchrun; more nodes join through the environment.
#   bash tools/dist_train.sh CONFIG GPUS [tools/train.py options]
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.1.1.1 MASTER_PORT=29500 bash tools/dist_train.sh CONFIG 8
# Without CUDA it runs on CPU with the gloo backend (GPUS <= CPU cores). docs/distributed.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/dist_common.sh"

(( $# >= 2 )) || die "usage: bash tools/dist_train.sh CONFIG GPUS [train.py options]"
CONFIG=$1
GPUS=$2
shift 2
require_file config "$CONFIG"
torchrun_launch "$GPUS" tools/train.py "$CONFIG" --launcher pytorch "$@"
