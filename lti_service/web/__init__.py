"""Flask blueprints, one per area: lti, learner, facilitator, admin, errors."""
