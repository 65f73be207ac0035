# Sourced by the Makefile and scripts: the build/run environment for tch against the venv's libtorch.
VERITY_ROOT=${VERITY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
VENV=${VERITY_VENV:-$VERITY_ROOT/.venv}
export PATH="$VENV/bin:$VERITY_ROOT/.setup/tools/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
TORCH_LIB="$VENV/lib/python3.11/site-packages/torch/lib"
[ -d "$TORCH_LIB" ] || TORCH_LIB=$("$VENV/bin/python" -c 'import torch,os;print(os.path.join(os.path.dirname(torch.__file__),"lib"))' 2>/dev/null || true)
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export VERITY_PYTHON="$VENV/bin/python"
