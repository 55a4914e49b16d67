"""Names shared by the efficacy suite's conftest and scenarios (imported by module name, like
``lesson_helpers``, so no test imports ``conftest``)."""

KEY, SECRET, ACCOUNT = "SIMKEY_LEARN", "SIMSECRET_LEARN", "learn"
# Every class the daemon captures (seed lessons' classes and Failure kinds it raises on its own).
CLASSES = (
    "sequential legs / orphan short", "hand-built closing orders", "406 stream limit", "stale quotes",
    "duplicate after a retried submit", "PDT lockout", "out of buying power", "wrong account keys",
    "holiday order", "LLM timeout storm", "price increments", "fills while down",
    "invalid agent output", "job exception storm", "reconcile mismatch (unknown order state)",
    "start-up refused (broker unreadable)",
)
