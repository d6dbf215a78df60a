"""When does the world model form? Every measure of every snapshot along a run's training
(behaviour, the board, the edit, coherence), their phases and the order the capacities appear
in: the dynamics stage (:mod:`probes.formation.spec`), ``probes.dynamics(run_dir, games)``."""
