#!/bin/bash
# Free self-scoring A/B, as run (2026-12-02): AR from a worktree at the commit before the change
# (/work/bench-wt2: b324fcd) and one after it ($NEWW: 768f7aa), alternating per problem (bench
# resumes; the seeded subset's prefixes are stable). Usage: NEWW=<worktree> bash ab_free2.sh ENGINE N
engine=$1; n=$2; NEWW=${NEWW:-/work/bench-wt4}; NAME=${NAME:-ab2}
export HF_HUB_OFFLINE=1
for i in $(seq 1 $n); do
  if [ $((i % 2)) -eq 1 ]; then order="old new"; else order="new old"; fi
  for side in $order; do
    if [ $side = old ]; then W=/work/bench-wt2; else W=$NEWW; fi
    (cd $W && PYTHONPATH=$W specsearch bench --engine $engine --n $i --modes target_only \
      --run-name $NAME-$engine-$side --out-dir /work/notes/ab --no-plots 2>&1 | tail -3)
  done
done
