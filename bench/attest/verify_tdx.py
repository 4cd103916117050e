#!/usr/bin/env python3
"""The dcap-qvl peer of `cvm attest verify QUOTE --collateral FILE --bench-iterations N`: the collateral
parsed once, then dcap_qvl.verify (signatures, collateral, TCB level) N times in process.
Usage: verify_tdx.py QUOTE COLLATERAL UNIX_TIME N"""
import sys, time
import dcap_qvl

quote = open(sys.argv[1], "rb").read()
collateral = dcap_qvl.QuoteCollateralV3.from_json(open(sys.argv[2]).read())
at, count = int(sys.argv[3]), int(sys.argv[4])
dcap_qvl.verify(quote, collateral, at)
wall, cpu = time.perf_counter(), time.process_time()
for _ in range(count):
    dcap_qvl.verify(quote, collateral, at)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(f"iterations={count} per_second={count / wall:.1f} per_cpu_second={count / cpu:.1f}")
