// Module Attestation.
