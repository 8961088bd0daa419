"""EMG baselines for the comparative evaluation (issue 6): Hudgins TD + LDA, TCN, CNN-BiLSTM, Atzori CNN,
each mapped into the text space by a learned projection and evaluated on MyoSem's own splits and candidates
(:mod:`train.baselines.run`)."""
