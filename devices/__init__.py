"""Stream sources: replay of recorded sessions and a synthetic armband, both as LSL outlets."""
