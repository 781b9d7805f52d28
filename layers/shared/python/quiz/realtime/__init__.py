"""Real-time delivery: which connections belong to which quiz, and pushing frames to them."""
