"""GPP at flux towers (DESIGN 7): tower data (`flux`), per-date input sets (`features`), 8-day
windows (`windows`), the transformer heads (`head`), scores (`metrics`), the evaluation
(`evaluate`) and its report (`report`)."""
