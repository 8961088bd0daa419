"""What the user sees: a live feed (acquisition thread) and its terminal and Qt views."""
