// Module Measurement.
