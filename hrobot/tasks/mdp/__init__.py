"""Terms tasks are built from: rewards, terminations, events, commands and curricula, the skill action."""
