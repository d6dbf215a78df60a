"""Everything that reads activations: probes, metrics, interventions and reports."""
