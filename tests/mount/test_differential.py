"""Random operation sequences on layerfs and on the kernel's overlayfs over
the same lower layers must give the same results and the same trees
(difftest.py, difftest_gen.py). The documented differences are
difftest.DIFFERENCES, and only those.

Bounded in time for CI; longer on demand:
  LAYERFS_DIFFTEST_SECONDS=N   time for the random part (default 75); the
                               fixed seeds always run, then random seeds
                               until the time is used up
  LAYERFS_DIFFTEST_OPS=N       operations per sequence (default 120)
  LAYERFS_DIFFTEST_METACOPY_SECONDS=N  the same for the round with metacopy=on
                               on both sides (default 30)
  LAYERFS_DIFFTEST_SEED=S      run only seed S (a failure prints its seed)
"""
import os
import random
import time

import pytest

import difftest
import difftest_gen

SECONDS = float(os.environ.get("LAYERFS_DIFFTEST_SECONDS", "75"))
METACOPY_SECONDS = float(os.environ.get("LAYERFS_DIFFTEST_METACOPY_SECONDS", "30"))
NOPS = int(os.environ.get("LAYERFS_DIFFTEST_OPS", "120"))
ONLY_SEED = os.environ.get("LAYERFS_DIFFTEST_SEED")
FIXED_SEEDS = [1, 2, 3, 4, 5, 6]
SHRINK_SECONDS = 120


def _fail(union, seed, layers, ops, spelling, out):
    i, events = out.failure
    sig = events[0].signature()
    small = difftest.shrink(union, layers, ops[:i + 1], spelling, sig,
                            time.monotonic() + SHRINK_SECONDS)
    check, _ = difftest.replay(union, layers, small, spelling)
    evs = check.failure[1] if check.failure else events
    pytest.fail("layerfs and overlayfs disagree%s (%d operations, shrunk from %d; rerun with "
                "LAYERFS_DIFFTEST_SEED=%r):\n%s" % (" with metacopy=on" if difftest.METACOPY else "",
                                                     len(small), i + 1, seed,
                difftest.format_repro(seed, layers, small, spelling, evs)), pytrace=False)


def test_random_sequences_agree_with_overlayfs(union, capsys):
    _campaign(union, capsys, SECONDS)


def test_random_sequences_agree_with_overlayfs_metacopy(union, capsys):
    """The same with metadata-only copy-up on both sides (metacopy=on)."""
    difftest.METACOPY = True
    try:
        _campaign(union, capsys, METACOPY_SECONDS)
    finally:
        difftest.METACOPY = False


def _campaign(union, capsys, seconds):
    start = time.monotonic()
    deadline = start + seconds
    if ONLY_SEED is not None:
        seeds = [int(ONLY_SEED) if ONLY_SEED.lstrip("-").isdigit() else ONLY_SEED]
    else:
        seeds = FIXED_SEEDS + [random.SystemRandom().randrange(1 << 30)]
    nseq = nops = 0
    excused = {}
    i = 0
    while i < len(seeds) or (ONLY_SEED is None and time.monotonic() < deadline):
        seed = seeds[i] if i < len(seeds) else random.SystemRandom().randrange(1 << 30)
        i += 1
        layers, ops, spelling, out, problems = difftest_gen.generate_and_run(union, seed, NOPS)
        assert not problems, "seed %r: %s" % (seed, problems)
        if out.failure:
            _fail(union, seed, layers, ops, spelling, out)
        nseq += 1
        nops += out.ops_run
        for key in {d.key for _, d in out.excused + ([out.diverged] if out.diverged else [])}:
            excused[key] = excused.get(key, 0) + 1
    with capsys.disabled():
        print("\ndifftest: %d sequences, %d operations clean in %.0fs; documented differences "
              "met (sequences): %r" % (nseq, nops, time.monotonic() - start, excused))
