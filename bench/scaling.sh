#!/usr/bin/env bash
# The scaling curve: seal, audit and claim at several pool sizes.
#
# Usage: bench/scaling.sh [--allow-1m] [N ...]        (default sizes: 10000 100000)
#
# For each N, in a fresh temporary directory (deleted afterwards, also on failure or Ctrl-C):
#   python bench/bench_seal.py --n N --keep DIR    -> bench/results/seal-N.json
#   python bench/bench_audit.py --dir DIR          -> bench/results/audit-N.json
#   python bench/bench_claim.py --dir DIR          -> bench/results/claim-N.json
# then prints one summary line per target. Run from anywhere; uses the repository's .venv if it exists.
# Sizes of 1,000,000 or more are refused unless --allow-1m is given (about an hour of both cores and
# a few GB of disk under $TMPDIR: the integrator runs it by hand, never CI).
# Environment: SEAL_ARGS (extra bench_seal.py flags, e.g. "--ipa-rounds 4"), CLAIMS (default 12),
# BENCH_RESULTS (write the JSONs there instead of bench/results, e.g. for trial runs).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
cd "$repo"
if [[ -f .venv/bin/activate && -z "${VIRTUAL_ENV:-}" ]]; then
    # shellcheck disable=SC1091
    . .venv/bin/activate
fi

allow_1m=0
sizes=()
for arg in "$@"; do
    case "$arg" in
        --allow-1m) allow_1m=1 ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *[!0-9]*|'') echo "scaling.sh: not a pool size: $arg" >&2; exit 2 ;;
        *) sizes+=("$arg") ;;
    esac
done
if [[ ${#sizes[@]} -eq 0 ]]; then
    sizes=(10000 100000)
fi
for n in "${sizes[@]}"; do
    if (( n >= 1000000 && allow_1m == 0 )); then
        echo "scaling.sh: $n loans takes about an hour of both cores; pass --allow-1m to run it" >&2
        exit 2
    fi
done

# recorded as "driver" in each JSON (their "command" names a temporary directory)
export BENCH_DRIVER="bench/scaling.sh $*"
workdir=""
cleanup() { if [[ -n "$workdir" ]]; then rm -rf -- "$workdir"; fi; }
trap cleanup EXIT

read -r -a seal_args <<< "${SEAL_ARGS:-}"
results_args=()
if [[ -n "${BENCH_RESULTS:-}" ]]; then
    results_args=(--results "$BENCH_RESULTS")
fi
for n in "${sizes[@]}"; do
    workdir="$(mktemp -d "${TMPDIR:-/tmp}/poolproof-scaling-$n.XXXXXX")"
    echo "== $n loans (instance in $workdir)" >&2
    python bench/bench_seal.py --n "$n" --keep "$workdir/kept" "${seal_args[@]}" "${results_args[@]}" \
        > "$workdir/seal.json"
    python bench/bench_audit.py --dir "$workdir/kept" "${results_args[@]}" > "$workdir/audit.json"
    python bench/bench_claim.py --dir "$workdir/kept" --claims "${CLAIMS:-12}" "${results_args[@]}" \
        > "$workdir/claim.json"
    python - "$workdir" <<'EOF'
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
seal, audit, claim = (json.loads((out / f"{t}.json").read_text()) for t in ("seal", "audit", "claim"))
print(
    f"{seal['loans']:>9} loans | seal {seal['seconds']:>8.1f} s, {seal['cpu_ms_per_loan']:.1f} CPU-ms/loan, "
    f"peak {seal['peak_rss_mib']:.0f} MiB | audit {audit['seconds']:>7.1f} s, peak {audit['peak_rss_mib']:.0f} MiB"
    f" | claim prove {claim['prove_ms_median']:.0f} ms, verify {claim['verify_ms_median']:.1f} ms, "
    f"{claim['bundle_bytes_max']} B"
)
EOF
    rm -rf -- "$workdir"
    workdir=""
done
