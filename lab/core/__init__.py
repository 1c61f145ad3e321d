"""The foundations every layer builds on: errors, the process runner, settings, context, UI, pinned versions."""
