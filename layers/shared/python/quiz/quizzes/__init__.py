"""Quizzes: authoring, joining, host-paced timed questions, answers and scoring."""
