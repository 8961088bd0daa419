"""Qt panels of the live window: ranked descriptions, gesture query, calibration (human in the loop).

Each panel only displays state and forwards clicks to :mod:`myosem_rt.display.interact`, where the
behaviour lives; errors a user can cause (empty text, nothing recorded yet) appear in the panel's status
line, never as a dialog, so the window keeps updating.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PyQt5 import QtCore, QtGui, QtWidgets

from myosem_rt.display.interact import Calibrator, GestureQuery
from myosem_rt.errors import MyosemError
from myosem_rt.live.engine import Result

log = logging.getLogger(__name__)

ACCENT = "#1f5fbf"
OK_COLOUR = "#1e8a3c"
BAD_COLOUR = "#b3261e"
MUTED = "#6b6b6b"


def font(widget: QtWidgets.QWidget, size: float, bold: bool = False, italic: bool = False) -> QtGui.QFont:
    f = QtGui.QFont(widget.font())
    f.setPointSizeF(size)
    f.setBold(bold)
    f.setItalic(italic)
    return f


#: Text lines per row of the ranking table (a description wraps onto the second).
ROW_LINES = 2
#: Font size of the descriptions relative to the table's (two lines of it hold the longest at 1280 px).
DESCRIPTION_SCALE = 0.85


class RankingTable(QtWidgets.QTableWidget):
    """Every class of the model, best first, with its cosine score as a bar and its description."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(0, 3, parent)
        self.setHorizontalHeaderLabels(["class", "score", "description"])
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.setSelectionMode(QtWidgets.QAbstractItemView.NoSelection)
        self.setFocusPolicy(QtCore.Qt.NoFocus)
        self.setShowGrid(False)
        # descriptions wrap onto two lines: cut to one, pairs that differ in the middle or at the end
        # (Chuck / Pinch Grip, Radial / Ulnar Deviation) looked identical
        self.setWordWrap(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.Fixed)
        header.setSectionResizeMode(2, QtWidgets.QHeaderView.Stretch)
        self.setColumnWidth(1, 64)
        self.verticalHeader().setDefaultSectionSize(ROW_LINES * self.fontMetrics().lineSpacing() + 6)
        self._bars: list[QtWidgets.QProgressBar] = []
        self.rows: list[str] = []  #: class names in the displayed order (tests read it)

    def _ensure_rows(self, n: int) -> None:
        while self.rowCount() < n:
            row = self.rowCount()
            self.insertRow(row)
            self.setItem(row, 0, QtWidgets.QTableWidgetItem())
            self.setItem(row, 2, QtWidgets.QTableWidgetItem())
            bar = QtWidgets.QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            bar.setFormat("")
            bar.setAlignment(QtCore.Qt.AlignCenter)
            bar.setStyleSheet("QProgressBar { border: 1px solid #c8c8c8; border-radius: 2px; color: #111; }"
                              "QProgressBar::chunk { background-color: #9dbce8; }")
            self.setCellWidget(row, 1, bar)
            self._bars.append(bar)
        while self.rowCount() > n:
            self.removeRow(self.rowCount() - 1)
            self._bars.pop()

    def show_result(self, result: Result, names: list[str], descriptions: list[str],
                    label: str | None) -> None:
        """All classes of ``result`` sorted by raw score; the smoothed ``label``'s row in bold."""
        order = sorted(range(len(result.scores)), key=lambda i: -float(result.scores[i]))
        self._ensure_rows(len(order))
        bold = font(self, self.font().pointSizeF(), bold=True)
        normal = font(self, self.font().pointSizeF())
        small = font(self, DESCRIPTION_SCALE * self.font().pointSizeF())
        self.rows = [names[i] for i in order]
        for row, i in enumerate(order):
            score = float(result.scores[i])
            name_item, text_item = self.item(row, 0), self.item(row, 2)
            name_item.setText(names[i])
            text_item.setText(descriptions[i])
            text_item.setFont(small)
            text_item.setToolTip(descriptions[i])
            name_item.setFont(bold if names[i] == label else normal)
            bar = self._bars[row]
            bar.setValue(int(round(max(0.0, min(1.0, score)) * 1000)))
            bar.setFormat(f"{score:+.2f}")


class QueryPanel(QtWidgets.QGroupBox):
    """Type a description -> matching stretches of the last seconds, listed and highlighted (text -> EMG);
    select one -> what the model says it is (EMG -> text)."""

    def __init__(self, query: GestureQuery, on_segments: Callable[[list[Any], int | None], None],
                 truth_name: Callable[[int | None], str | None]) -> None:
        super().__init__("Gesture query (text → EMG over the recent history)")
        self.query = query
        self.on_segments = on_segments
        self.truth_name = truth_name
        self.edit = QtWidgets.QLineEdit()
        self.edit.setPlaceholderText("describe a movement, e.g. “making a fist”, then Enter")
        self.edit.returnPressed.connect(self.run_query)
        self.find = QtWidgets.QPushButton("Find")
        self.find.clicked.connect(self.run_query)
        self.live = QtWidgets.QCheckBox("live")
        self.live.setToolTip("re-run the query every second as new hops arrive")
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.edit, 1)
        row.addWidget(self.find)
        row.addWidget(self.live)
        self.list = QtWidgets.QListWidget()
        self.list.setMaximumHeight(118)
        self.list.currentRowChanged.connect(self.select)
        self.ranking = QtWidgets.QLabel("")
        self.ranking.setWordWrap(True)
        self.ranking.setTextFormat(QtCore.Qt.RichText)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.list)
        layout.addWidget(self.ranking)

    def run_query(self) -> None:
        keep = self.list.currentRow()
        try:
            segments = self.query.run(self.edit.text())
        except MyosemError as exc:
            self.ranking.setText(f"<span style='color:{BAD_COLOUR}'>{exc}</span>")
            return
        self.list.blockSignals(True)
        self.list.clear()
        for i, s in enumerate(segments):
            truth = self.truth_name(self.query.truth(i))
            extra = f"   truth: {truth}" if truth else ""
            start = max(0.0, s.start_t - self.query.worker.window_s)  # the first window's start
            self.list.addItem(f"{i + 1}.  {start:.1f} – {s.end_t:.1f} s   score {s.score:.2f} "
                              f"(mean {s.mean_score:.2f}){extra}")
        self.list.blockSignals(False)
        if not segments:
            self.ranking.setText(f"<span style='color:{MUTED}'>no stretch of the history matches "
                                 f"“{self.query.text}”</span>")
            self.on_segments([], None)
            return
        self.list.setCurrentRow(keep if 0 <= keep < len(segments) else 0)  # -> select()

    def select(self, index: int) -> None:
        if not 0 <= index < len(self.query.segments):
            return
        ranked = self.query.describe(index)[:4]
        parts = [f"<b>{name}</b> {score:+.2f}" if k == 0 else f"{name} {score:+.2f}"
                 for k, (name, _, score) in enumerate(ranked)]
        text = ranked[0][1] if ranked else ""
        self.ranking.setText(f"EMG → text for segment {index + 1}: " + " · ".join(parts)
                             + (f"<br><i>{text}</i>" if text else ""))
        self.on_segments(self.query.segments, index)


class CalibrationPanel(QtWidgets.QGroupBox):
    """Confirm / correct the current result; record a new gesture with its description (module doc)."""

    def __init__(self, calibrator: Calibrator, default_record_s: float) -> None:
        super().__init__("Calibration (your profile)")
        self.calibrator = calibrator
        self._current: int | None = None
        self.confirm = QtWidgets.QPushButton("✓ Confirm")
        self.confirm.setEnabled(False)
        self.confirm.setToolTip("the current label is right: add the last second as an example of it")
        self.confirm.clicked.connect(self._confirm)
        self.classes = QtWidgets.QComboBox()
        self.correct = QtWidgets.QPushButton("Correct to")
        self.correct.setToolTip("the current label is wrong: the last second was the class chosen here")
        self.correct.clicked.connect(self._correct)
        row1 = QtWidgets.QHBoxLayout()
        row1.addWidget(self.confirm, 3)
        row1.addSpacing(12)
        row1.addWidget(self.correct)
        row1.addWidget(self.classes, 2)
        self.name = QtWidgets.QLineEdit()
        self.name.setPlaceholderText("new gesture name")
        self.description = QtWidgets.QLineEdit()
        self.description.setPlaceholderText("what the hand does, in words")
        self.seconds = QtWidgets.QDoubleSpinBox()
        self.seconds.setRange(0.5, 30.0)
        self.seconds.setSingleStep(0.5)
        self.seconds.setValue(default_record_s)
        self.seconds.setSuffix(" s")
        self.record = QtWidgets.QPushButton("● Record")
        self.record.clicked.connect(self._record)
        row2 = QtWidgets.QHBoxLayout()
        row2.addWidget(self.name, 2)
        row2.addWidget(self.description, 3)
        row2.addWidget(self.seconds)
        row2.addWidget(self.record)
        self.status = QtWidgets.QLabel("")
        self.status.setWordWrap(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.refresh_classes()
        self._say(self._where())

    def show_current(self, label: str | None, class_id: int | None) -> None:
        """The label on screen, which a confirm confirms (None: uncertain, nothing to confirm)."""
        self._current = class_id
        text = f"✓ “{label}” is right" if label else "✓ Confirm"
        if self.confirm.text() != text:
            self.confirm.setText(text)
            self.confirm.setEnabled(label is not None)

    def _where(self) -> str:
        c = self.calibrator
        if c.profile is None:
            return "no profile yet: enrol first (confirm / correct then refine it)"
        where = f"profile {c.path}" if c.path else "profile in memory (start with --profile PATH to keep it)"
        new = sum(1 for k in c.profile.classes if k.get("origin") == "new")
        return f"{where} · {c.profile.labels.size} example windows, {new} new gesture(s)"

    def _say(self, text: str, colour: str = MUTED) -> None:
        self.status.setText(f"<span style='color:{colour}'>{text}</span>")

    def refresh_classes(self) -> None:
        current = self.classes.currentData()
        self.classes.clear()
        for class_id, name in self.calibrator.classes():
            self.classes.addItem(name, class_id)
        if current is not None:
            index = self.classes.findData(current)
            if index >= 0:
                self.classes.setCurrentIndex(index)

    def _run(self, action: Callable[[], str]) -> None:
        try:
            done = action()
        except MyosemError as exc:
            self._say(str(exc), BAD_COLOUR)
            return
        except OSError as exc:  # the profile could not be saved (full disk, read-only folder)
            self._say(f"profile NOT saved to {self.calibrator.path}: {exc.strerror or exc}", BAD_COLOUR)
            return
        self._say(f"{done} · {self._where()}", OK_COLOUR)

    def _confirm(self) -> None:
        def act() -> str:
            class_id = self.calibrator.confirm(self._current)
            return f"confirmed {dict(self.calibrator.classes())[class_id]}"
        self._run(act)

    def _correct(self) -> None:
        def act() -> str:
            self.calibrator.correct(int(self.classes.currentData()))
            return f"corrected to {self.classes.currentText()}"
        self._run(act)

    def _record(self) -> None:
        def act() -> str:
            rec = self.calibrator.start_recording(self.name.text(), self.description.text(),
                                                  self.seconds.value())
            self.record.setEnabled(False)
            return f"recording '{rec.name}' for {rec.end_t - rec.start_t:.1f} s: do the gesture now"
        self._run(act)

    def poll(self) -> None:
        """Called every frame: finish a recording when its time has passed."""
        if self.calibrator.recording is None:
            return
        try:
            class_id = self.calibrator.poll_recording()
        except MyosemError as exc:
            self.record.setEnabled(True)
            self._say(str(exc), BAD_COLOUR)
            return
        if class_id is not None:
            self.record.setEnabled(True)
            self.refresh_classes()
            self.name.clear()
            self.description.clear()
            self._say(f"new gesture '{dict(self.calibrator.classes())[class_id]}' enrolled · "
                      f"{self._where()}", OK_COLOUR)
