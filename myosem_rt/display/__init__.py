"""What the user sees: a live worker thread (acquisition + inference + query history) and its views.

``worker`` (the thread), ``connect`` (opening a session: stream, model, markers, profile), ``interact``
(gesture query and calibration, no Qt), ``terminal`` (text view), ``window`` + ``panels`` (the Qt window),
``synthetic`` (the demo's model-shaped synthetic armband), ``bench`` (``myosem bench gui``).
"""
