# Shared by tools/dist_{train,test}.sh and tools/slurm_{train,test}.sh: sourced, not run.
# Every check fails fast with a message naming the variable and the fix, before any process
# is launched, so a bad GPUS or a busy MASTER_PORT never leaves workers waiting on each other.

KDCL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python}
export PYTHONPATH="$KDCL_ROOT${PYTHONPATH:+:$PYTHONPATH}"

die() {
    echo "error: $*" >&2
    exit 2
}

require_int() {  # NAME VALUE MIN
    [[ $2 =~ ^(0|[1-9][0-9]*)$ ]] && (( $2 >= $3 )) || die "$1 must be an integer >= $3, got '$2'"
}

require_file() {  # WHAT PATH
    [[ -f $2 ]] || die "$1 '$2' does not exist"
}

# GPUS processes per node need as many visible CUDA devices; without CUDA the runs fall back
# to CPU + gloo (kdcl_mm/launch/dist_env.py), one process per core at most, because more
# processes than cores only contend.
check_processes_fit() {  # GPUS
    local gpus=$1 counts cuda cores
    require_int GPUS "$gpus" 1
    # Cores this process may use (not `nproc`, which follows OMP_NUM_THREADS).
    counts=$("$PYTHON" -c 'import os, torch
cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
print(cuda, len(os.sched_getaffinity(0)))') ||
        die "cannot import torch with PYTHON=$PYTHON; activate the environment or set PYTHON"
    read -r cuda cores <<<"$counts"
    if (( cuda > 0 )); then
        (( gpus <= cuda )) || die "GPUS=$gpus but this node sees $cuda CUDA device(s)" \
            "(CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset}); pass GPUS <= $cuda"
    else
        (( gpus <= cores )) || die "GPUS=$gpus but CUDA is unavailable and this node has" \
            "$cores CPU core(s); the CPU/gloo fallback runs at most one process per core:" \
            "pass GPUS <= $cores"
    fi
}

# torchrun's store listens on MASTER_PORT of node 0. If another program holds the port,
# torchrun dies with a DistNetworkError trace, and the other nodes would connect to that
# program instead; say so plainly before launching.
check_port_free() {  # PORT
    "$PYTHON" - "$1" <<'EOF' || exit 2
import socket
import sys

port = int(sys.argv[1])
with socket.socket() as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(('', port))
    except OSError as err:
        with socket.socket() as spare:
            spare.bind(('', 0))
            free = spare.getsockname()[1]
        sys.exit(f'error: MASTER_PORT={port} is already in use on this node ({err.strerror}), '
                 f'probably by another distributed job; pick a free one, e.g. MASTER_PORT={free}')
EOF
}

# torchrun_launch GPUS SCRIPT [ARGS...]: one node's share of a (multi-node) torchrun job.
# One node without MASTER_PORT: torchrun --standalone binds its store on a port the kernel
# picks, in the same bind() call. A fixed default (29500) collides with any other job on the
# node, and a port probed free beforehand and passed in can be taken by another process in
# the seconds before torchrun binds it (what made a 2-process test fail under load).
torchrun_launch() {
    local gpus=$1 script=$2
    shift 2
    local nnodes=${NNODES:-1} node_rank=${NODE_RANK:-0}
    local master_addr=${MASTER_ADDR:-127.0.0.1} master_port=${MASTER_PORT:-}
    require_int NNODES "$nnodes" 1
    require_int NODE_RANK "$node_rank" 0
    (( node_rank < nnodes )) || die "NODE_RANK=$node_rank must be < NNODES=$nnodes"
    if [[ -z $master_port ]] && (( nnodes == 1 )); then
        check_processes_fit "$gpus"
        exec "$PYTHON" -m torch.distributed.run --standalone --nproc-per-node="$gpus" \
            "$KDCL_ROOT/$script" "$@"
    fi
    master_port=${master_port:-29500}  # several nodes must agree on it
    require_int MASTER_PORT "$master_port" 1
    (( master_port <= 65535 )) || die "MASTER_PORT must be <= 65535, got $master_port"
    check_processes_fit "$gpus"
    if (( node_rank == 0 )); then
        check_port_free "$master_port"
    fi
    exec "$PYTHON" -m torch.distributed.run \
        --nnodes="$nnodes" --node-rank="$node_rank" --nproc-per-node="$gpus" \
        --master-addr="$master_addr" --master-port="$master_port" \
        "$KDCL_ROOT/$script" "$@"
}

# srun_launch PARTITION JOB_NAME SCRIPT [ARGS...]: GPUS tasks, GPUS_PER_NODE per node.
# GRES defaults to gpu:GPUS_PER_NODE; set GRES= (empty) on CPU-only partitions.
srun_launch() {
    local partition=$1 job_name=$2 script=$3
    shift 3
    command -v srun >/dev/null ||
        die "srun not found: tools/slurm_*.sh submit through Slurm;" \
            "on one machine use tools/dist_*.sh"
    local gpus=${GPUS:-8}
    require_int GPUS "$gpus" 1
    local gpus_per_node=${GPUS_PER_NODE:-$(( gpus < 8 ? gpus : 8 ))}
    local cpus_per_task=${CPUS_PER_TASK:-5}
    require_int GPUS_PER_NODE "$gpus_per_node" 1
    require_int CPUS_PER_TASK "$cpus_per_task" 1
    local gres=${GRES-gpu:$gpus_per_node}
    # SRUN_ARGS is split into words on purpose: it holds extra srun options.
    # shellcheck disable=SC2086
    exec srun --partition="$partition" --job-name="$job_name" ${gres:+--gres="$gres"} \
        --ntasks="$gpus" --ntasks-per-node="$gpus_per_node" --cpus-per-task="$cpus_per_task" \
        --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
        "$PYTHON" -u "$KDCL_ROOT/$script" "$@"
}
