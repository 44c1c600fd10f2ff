"""Everything the bot says outside the survey questions, per language."""
