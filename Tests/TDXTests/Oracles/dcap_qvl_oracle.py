#!/usr/bin/env python3
"""The dcap-qvl (PyPI) oracle of the TDX tests. Usage:
  dcap_qvl_oracle.py parse QUOTE              -> JSON of the fields dcap-qvl parses
  dcap_qvl_oracle.py verify QUOTE COLLATERAL UNIX_TIME [ROOT_DER] -> JSON {"ok": bool, "status"|"error": ...}
With ROOT_DER, dcap-qvl's verify_with_root_ca trusts that root instead of Intel's (test PKIs)."""
import json, sys
import dcap_qvl

def hexof(value):
    return bytes(value).hex() if isinstance(value, (bytes, bytearray, list)) else value

mode, path = sys.argv[1], sys.argv[2]
quote = open(path, "rb").read()
if mode == "parse":
    q = dcap_qvl.parse_quote(quote)
    h, r = q.header, q.report
    out = {"version": h.version, "tee_type": h.tee_type, "qe_svn": h.qe_svn, "pce_svn": h.pce_svn,
           "qe_vendor_id": hexof(h.qe_vendor_id), "user_data": hexof(h.user_data), "is_tdx": q.is_tdx(),
           "fmspc": hexof(q.fmspc()) if callable(getattr(q, "fmspc", None)) else None}
    for name in ["mr_td", "rt_mr0", "rt_mr1", "rt_mr2", "rt_mr3", "report_data", "td_attributes", "xfam",
                 "tee_tcb_svn", "mr_seam", "mr_signer_seam", "mr_config_id", "mr_owner", "mr_owner_config",
                 "mr_enclave", "mr_signer", "isv_prod_id", "isv_svn", "tee_tcb_svn2", "mr_service_td"]:
        if hasattr(r, name):
            out[name] = hexof(getattr(r, name))
    print(json.dumps(out))
else:
    collateral = dcap_qvl.QuoteCollateralV3.from_json(open(sys.argv[3]).read())
    try:
        if len(sys.argv) > 5:
            root = open(sys.argv[5], "rb").read()
            verified = dcap_qvl.verify_with_root_ca(quote, collateral, root, int(sys.argv[4]))
        else:
            verified = dcap_qvl.verify(quote, collateral, int(sys.argv[4]))
        print(json.dumps({"ok": True, "status": verified.status, "advisories": list(verified.advisory_ids)}))
    except Exception as error:
        print(json.dumps({"ok": False, "error": str(error)}))
