"""From media to people: sources, detectors, the Estimator, and the `smplestx infer` job."""
