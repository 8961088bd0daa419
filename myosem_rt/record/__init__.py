"""Recording LSL streams to files: ``myosem record`` (:mod:`.session`) and the capture parts every recorder
shares, the guided enrolment's included (:mod:`.capture`: buffers that never reallocate what they hold,
writing with fallbacks so nothing received is lost, Ctrl-C deferred while a file is written)."""
