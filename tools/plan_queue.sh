#!/usr/bin/env bash
# Train `charclf plan` steps one after another from a git worktree at a commit, as the study's background runs
# are made: one job at a time (two on 2 cores are slower than one after the other), each run resumable, the
# queue's log saying which commit trained what.
#
#   setsid nohup tools/plan_queue.sh ../wt-queue HEAD "--only 11 --models minivision_s-swa --seeds 0" \
#       "--only 11 --models minivision_xs-charclf-long" > queue.log 2>&1 &
#
# WORKTREE is created at COMMIT when missing (git worktree add --detach), else checked out at COMMIT; a run
# folder the commit tracks must not sit untracked there (copy finished runs into the main checkout, commit them,
# then move the worktree's copy aside). Each STEP is the arguments after `charclf plan --profile full`. The
# steps run with OMP_NUM_THREADS=1 (PLAN_THREADS to change it), which leaves a core for other work; the data
# folder is $CHARCLF_DATA_DIR (default ../shared/data beside the repository).
set -euo pipefail
if [ "$#" -lt 3 ]; then
  echo "usage: tools/plan_queue.sh WORKTREE COMMIT STEP... (a STEP: e.g. \"--only 11 --models minivision_s --seeds 0\")" >&2
  exit 2
fi
repo="$(cd "$(dirname "$0")/.." && pwd)"
worktree="$1" commit="$(git -C "$repo" rev-parse "$2")"
shift 2
if [ -d "$worktree" ]; then
  # Only a worktree of its own: a plain folder inside this checkout would make git act on the checkout itself.
  if [ "$(git -C "$worktree" rev-parse --show-toplevel 2>/dev/null)" != "$(cd "$worktree" && pwd -P)" ]; then
    echo "$worktree: exists but is not a git worktree. Fix: pass a new folder (it is created) or an existing worktree" >&2
    exit 2
  fi
  git -C "$worktree" checkout -q --detach "$commit"
else
  git -C "$repo" worktree add -q --detach "$worktree" "$commit"
fi
python="${PYTHON:-$repo/.venv/bin/python}"
if [ -z "${CHARCLF_DATA_DIR:-}" ]; then
  if [ ! -d "$repo/../shared/data" ]; then
    echo "no data folder: \$CHARCLF_DATA_DIR is unset and $repo/../shared/data is missing. Fix: export CHARCLF_DATA_DIR" >&2
    exit 2
  fi
  CHARCLF_DATA_DIR="$(cd "$repo/../shared/data" && pwd)"
fi
export CHARCLF_DATA_DIR
export PYTHONPATH="$(cd "$worktree" && pwd)" OMP_NUM_THREADS="${PLAN_THREADS:-1}"
cd "$worktree"
for step in "$@"; do
  echo "== charclf plan --profile full $step  ($(date -u +%FT%TZ), commit ${commit:0:7})"
  # shellcheck disable=SC2086  (a step is several arguments)
  "$python" -m charclf plan --profile full $step || echo "== step failed with exit $?: $step"
done
echo "== queue done $(date -u +%FT%TZ)"
