"""The window's ``Enrol…`` panel: choose gestures and timing, then follow the cues, large, while recording.

The flow is :class:`myosem_rt.profile.live_enrol.LiveEnrolment` (no Qt); this panel only shows it and
forwards clicks. Two pages:

* **setup**: the model's gestures as checkboxes (all ticked; rest is recorded during "get ready" and
  "relax" anyway), new gestures typed with a name and a description (a stream no model fits needs two at
  least), repetitions and the ready / hold / relax seconds (config ``enrol``), the wearer's name, Start;
* **cues**: the cue in force, large ("get ready: Power Grip", "hold Power Grip" with its description,
  "relax"), its countdown and progress, the session's progress, samples and gaps, Cancel; at the end one
  line says what happened and where the recording is.

The cue is that of the newest *recorded* sample (stream time), so a replay at 10x is cued 10x faster, and a
stalled stream freezes the cue instead of letting it run on. Errors are one line in the panel, never a
dialog, so the window keeps painting.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from PyQt5 import QtCore, QtWidgets

from myosem_rt.display.panels import ACCENT, BAD_COLOUR, MUTED, OK_COLOUR, font
from myosem_rt.errors import MyosemError
from myosem_rt.profile.cues import REST_ID, model_vocabulary, pick_gestures
from myosem_rt.profile.enrol_view import Status
from myosem_rt.profile.live_enrol import EnrolResult, LiveEnrolment

log = logging.getLogger(__name__)

#: Colour of each cue phase.
PHASE_COLOUR = {"ready": "#b26a00", "hold": OK_COLOUR, "rest": ACCENT}
#: Checkbox columns of the gesture list.
COLUMNS = 5


class EnrolPanel(QtWidgets.QGroupBox):
    """See the module docstring. ``on_close`` is called by Close; :attr:`enrolled` carries the
    :class:`EnrolResult` once its view is in the worker."""

    enrolled = QtCore.pyqtSignal(object)

    def __init__(self, worker: Any, config: Mapping[str, Any], *, profile_path: Path | None = None,
                 user: str = "", on_close: Callable[[], None] | None = None) -> None:
        super().__init__("Enrol (guided: follow the cues)")
        self.worker = worker
        self.config = config
        self.profile_path = profile_path
        self.on_close = on_close
        self.flow: LiveEnrolment | None = None
        self.result: EnrolResult | None = None
        self.vocab = {i: g for i, g in model_vocabulary(worker.base_model).items() if i != REST_ID}
        self.new: list[tuple[str, str]] = []
        self.pages = QtWidgets.QStackedWidget()
        self.pages.addWidget(self._setup_page(user))
        self.pages.addWidget(self._cue_page())
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 6)
        layout.addWidget(self.pages)
        for label in (self.cue, self.cue_text, self.detail, self.message, self.setup_status, self.new_list,
                      self.summary):  # long lines (paths) must not widen the window: they wrap or are cut
            label.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        self._show_page(0)
        self._update_summary()

    # -- building -----------------------------------------------------------------------------------------
    def _setup_page(self, user: str) -> QtWidgets.QWidget:
        page = QtWidgets.QWidget()
        grid = QtWidgets.QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(2)
        self.checks: dict[int, QtWidgets.QCheckBox] = {}
        for k, (class_id, g) in enumerate(sorted(self.vocab.items())):
            box = QtWidgets.QCheckBox(g.name)
            box.setChecked(True)
            box.setToolTip(g.description)
            box.toggled.connect(self._update_summary)
            self.checks[class_id] = box
            grid.addWidget(box, k // COLUMNS, k % COLUMNS)
        self.new_name = QtWidgets.QLineEdit()
        self.new_name.setPlaceholderText("new gesture name")
        self.new_text = QtWidgets.QLineEdit()
        self.new_text.setPlaceholderText("what the hand does, in words")
        self.new_text.returnPressed.connect(self._add_new)
        self.add = QtWidgets.QPushButton("+ Add")
        self.add.clicked.connect(self._add_new)
        self.new_list = QtWidgets.QLabel("")
        self.new_list.setStyleSheet(f"color: {MUTED}")
        self.new_list.setWordWrap(True)
        clear = QtWidgets.QPushButton("Clear new")
        clear.clicked.connect(self._clear_new)
        new_row = QtWidgets.QHBoxLayout()
        new_row.addWidget(self.new_name, 2)
        new_row.addWidget(self.new_text, 4)
        new_row.addWidget(self.add)
        new_row.addWidget(clear)
        section = self.config.get("enrol", {})
        self.repetitions = QtWidgets.QSpinBox()
        self.repetitions.setRange(1, 50)
        self.repetitions.setValue(int(section.get("repetitions", 1)))
        self.ready = self._seconds(float(section.get("ready_s", 2.0)), 0.0)
        self.hold = self._seconds(float(section.get("hold_s", 5.0)), 0.1)
        self.rest = self._seconds(float(section.get("rest_s", 3.0)), 0.0)
        self.user = QtWidgets.QLineEdit(user)
        self.user.setPlaceholderText("wearer")
        self.keep_weak = QtWidgets.QCheckBox("label weak gestures by their cue")
        self.keep_weak.setToolTip("a gesture with no muscle activity above rest is kept (labelled by its "
                                  "cue) instead of refused")
        self.replace = QtWidgets.QCheckBox("replace the profile")
        self.replace.setVisible(self._profile_exists())
        self.replace.setToolTip(f"{self.profile_path}: a profile exists; enrolling replaces it")
        timing = QtWidgets.QHBoxLayout()
        for caption, widget in (("repetitions", self.repetitions), ("get ready", self.ready),
                                ("hold", self.hold), ("relax", self.rest), ("wearer", self.user)):
            timing.addWidget(QtWidgets.QLabel(caption))
            timing.addWidget(widget)
            timing.addSpacing(8)
        timing.addWidget(self.keep_weak)
        timing.addWidget(self.replace)
        timing.addStretch(1)
        for spin in (self.repetitions, self.ready, self.hold, self.rest):
            spin.valueChanged.connect(self._update_summary)
        self.summary = QtWidgets.QLabel("")
        self.summary.setStyleSheet(f"color: {MUTED}")
        self.start_button = QtWidgets.QPushButton("▶ Start")
        self.start_button.setFont(font(self, self.font().pointSizeF() + 1, bold=True))
        self.start_button.clicked.connect(self.start)
        close = QtWidgets.QPushButton("Close")
        close.clicked.connect(self.close_panel)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.summary, 1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(close)
        self.setup_status = QtWidgets.QLabel("")
        self.setup_status.setWordWrap(True)
        layout = QtWidgets.QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        if self.vocab:
            layout.addWidget(QtWidgets.QLabel("gestures of the model (hover for the description):"))
            layout.addLayout(grid)
        else:
            hint = QtWidgets.QLabel("no model for this stream: name and describe at least two gestures")
            hint.setStyleSheet(f"color: {MUTED}")
            layout.addWidget(hint)
        layout.addLayout(new_row)
        layout.addWidget(self.new_list)
        layout.addLayout(timing)
        layout.addLayout(buttons)
        layout.addWidget(self.setup_status)
        layout.addStretch(1)
        return page

    def _seconds(self, value: float, minimum: float) -> QtWidgets.QDoubleSpinBox:
        spin = QtWidgets.QDoubleSpinBox()
        spin.setRange(minimum, 120.0)
        spin.setSingleStep(0.5)
        spin.setDecimals(1)
        spin.setSuffix(" s")
        spin.setValue(value)
        return spin

    def _cue_page(self) -> QtWidgets.QWidget:
        page = QtWidgets.QWidget()
        self.cue = QtWidgets.QLabel("")
        self.cue.setFont(font(self, 30, bold=True))
        self.cue_text = QtWidgets.QLabel("")
        self.cue_text.setFont(font(self, 17, italic=True))
        self.cue_text.setWordWrap(True)
        self.countdown = QtWidgets.QLabel("")
        self.countdown.setFont(font(self, 34, bold=True))
        self.countdown.setAlignment(QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter)
        self.countdown.setMinimumWidth(170)
        self.cue_bar = self._bar(8)
        self.session_bar = self._bar(20)
        self.session_bar.setTextVisible(True)
        self.detail = QtWidgets.QLabel("")
        self.detail.setStyleSheet(f"color: {MUTED}")
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.cancel_button = QtWidgets.QPushButton("■ Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.again = QtWidgets.QPushButton("Enrol again")
        self.again.clicked.connect(lambda: self._show_page(0))
        self.done_close = QtWidgets.QPushButton("Close")
        self.done_close.clicked.connect(self.close_panel)
        texts = QtWidgets.QVBoxLayout()
        texts.setSpacing(2)
        texts.addWidget(self.cue)
        texts.addWidget(self.cue_text)
        top = QtWidgets.QHBoxLayout()
        top.addLayout(texts, 1)
        top.addWidget(self.countdown)
        bottom = QtWidgets.QHBoxLayout()
        bottom.addWidget(self.detail, 1)
        bottom.addWidget(self.cancel_button)
        bottom.addWidget(self.again)
        bottom.addWidget(self.done_close)
        layout = QtWidgets.QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.cue_bar)
        layout.addWidget(self.session_bar)
        layout.addLayout(bottom)
        layout.addWidget(self.message)
        layout.addStretch(1)
        return page

    @staticmethod
    def _bar(height: int) -> QtWidgets.QProgressBar:
        bar = QtWidgets.QProgressBar()
        bar.setRange(0, 1000)
        bar.setTextVisible(False)
        bar.setFixedHeight(height)
        return bar

    # -- setup ----------------------------------------------------------------------------------------------
    def _profile_exists(self) -> bool:
        from myosem_rt.profile.profile import json_path

        return self.profile_path is not None and json_path(self.profile_path).exists()

    def _add_new(self) -> None:
        name, text = self.new_name.text().strip(), self.new_text.text().strip()
        try:
            pick_gestures(self.vocab, [], [*self.new, (name, text)])  # the same checks as Start
        except MyosemError as exc:
            self._say(self.setup_status, str(exc), BAD_COLOUR)
            return
        self.new.append((name, text))
        self.new_name.clear()
        self.new_text.clear()
        self._say(self.setup_status, "")
        self._update_summary()

    def _clear_new(self) -> None:
        self.new = []
        self._update_summary()

    def chosen(self) -> list[int]:
        return [i for i, box in self.checks.items() if box.isChecked()]

    def _update_summary(self) -> None:
        self.new_list.setText("new: " + "; ".join(f"<b>{html.escape(n)}</b>: {html.escape(t)}"
                                                  for n, t in self.new) if self.new else "")
        self.new_list.setVisible(bool(self.new))
        n = len(self.chosen()) + len(self.new)
        trial = self.ready.value() + self.hold.value() + self.rest.value()
        total = n * self.repetitions.value() * trial
        self.summary.setText(f"{n} gesture(s) × {self.repetitions.value()} repetition(s) = {total:.0f} s "
                             "of signal")

    def start(self) -> None:
        """Start with the choices on the setup page (errors go to its status line)."""
        try:
            classes = pick_gestures(self.vocab, self.chosen(), self.new,
                                    min_new=0 if self.worker.base_model is not None else 2)
            flow = LiveEnrolment(self.worker, self.config, classes, repetitions=self.repetitions.value(),
                                 ready_s=self.ready.value(), hold_s=self.hold.value(),
                                 rest_s=self.rest.value(), user=self.user.text(),
                                 profile_path=self.profile_path, keep_weak=self.keep_weak.isChecked(),
                                 replace_profile=self.replace.isChecked())
            flow.start()
        except MyosemError as exc:
            self._say(self.setup_status, str(exc), BAD_COLOUR)
            return
        self.flow, self.result = flow, None
        self._say(self.setup_status, "")
        self._say(self.message, f"recording to {flow.out}")
        self._buttons(running=True)
        self._show_page(1)
        self.poll()

    # -- running ------------------------------------------------------------------------------------------
    def cancel(self) -> None:
        if self.flow is not None:
            self.flow.cancel()
            self._say(self.message, "cancelled: writing the recording…")
            self.poll()

    def poll(self) -> None:
        """Called every frame by the window: advance the flow and draw its state."""
        flow = self.flow
        if flow is None:
            return
        result = flow.poll()
        if flow.state == "recording":
            self._draw(flow.status())
        elif flow.state == "saving" and self.cancel_button.isEnabled():
            self.cancel_button.setEnabled(False)
            self._say(self.message, "writing the recording and fitting the profile…")
        if result is not None:
            self._done(result)

    def _draw(self, s: Status) -> None:
        c = s.cue
        if c is None:
            self._set(self.cue, s.waiting or "…", MUTED)
            self.cue_text.setText("")
            self.countdown.setText("")
            return
        g = c.gesture
        nxt = self.flow.schedule.cue_at(c.end_s) if c.end_s is not None else None
        if c.phase == "ready":
            self._set(self.cue, f"get ready: {g.name}", PHASE_COLOUR["ready"])
            self.cue_text.setText(g.description)
        elif c.phase == "hold":
            self._set(self.cue, f"hold {g.name}", PHASE_COLOUR["hold"])
            self.cue_text.setText(g.description)
        else:
            self._set(self.cue, "relax", PHASE_COLOUR["rest"])
            self.cue_text.setText(f"next: {nxt.gesture.name}" if nxt is not None else "last cue: the session "
                                  "ends after it")
        span = max((c.end_s or 0.0) - c.start_s, 1e-9)
        left = max((c.end_s or 0.0) - s.t, 0.0)
        self.countdown.setText(f"{left:.1f} s")
        self.cue_bar.setValue(int(round(1000 * min(max((s.t - c.start_s) / span, 0.0), 1.0))))
        if self.cue_bar.property("phase") != c.phase:  # restyling is not free: only when the phase changes
            self.cue_bar.setProperty("phase", c.phase)
            colour = PHASE_COLOUR[c.phase]
            self.cue_bar.setStyleSheet(f"QProgressBar::chunk {{ background-color: {colour}; }}")
        self.session_bar.setValue(int(round(1000 * s.progress)))
        self.session_bar.setFormat(f"session {100 * s.progress:.0f} %  ·  {s.left_s or 0.0:.0f} s left")
        self.detail.setText(f"cue {c.index + 1} of {s.n_cues} · repetition {c.repetition} · {s.samples} "
                            f"samples · gaps {s.gaps}")

    def _done(self, result: EnrolResult) -> None:
        self.result = result
        self._buttons(running=False)
        if result.ok:
            self._set(self.cue, "done", OK_COLOUR)
            self.cue_text.setText("your profile is in use now")
            self.session_bar.setValue(1000)
            self.session_bar.setFormat("session 100 %")
            self._say(self.message, result.message, OK_COLOUR)
            self.replace.setVisible(self._profile_exists())
            self.enrolled.emit(result)
        else:
            self._set(self.cue, "stopped" if result.recording is not None else "nothing recorded", BAD_COLOUR)
            self.cue_text.setText("")
            self._say(self.message, result.message, BAD_COLOUR)
        self.countdown.setText("")

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """The window closes: end a running session (its recording is written) and wait for the write."""
        if self.flow is not None:
            self.flow.cancel()
            self.flow.wait(timeout_s)

    def close_panel(self) -> None:
        if self.flow is not None and self.flow.state != "done":
            return
        if self.on_close is not None:
            self.on_close()

    # -- helpers -------------------------------------------------------------------------------------------
    def _show_page(self, index: int) -> None:
        """Show page ``index``, the panel as tall as that page (a stack is as tall as its tallest page)."""
        for i in range(self.pages.count()):
            policy = QtWidgets.QSizePolicy.Preferred if i == index else QtWidgets.QSizePolicy.Ignored
            self.pages.widget(i).setSizePolicy(policy, policy)
        self.pages.setCurrentIndex(index)
        self.pages.adjustSize()

    def _buttons(self, running: bool) -> None:
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running)
        self.again.setVisible(not running)
        self.done_close.setVisible(not running)

    @staticmethod
    def _set(label: QtWidgets.QLabel, text: str, colour: str) -> None:
        if label.text() != text:
            label.setText(text)
        if label.property("colour") != colour:
            label.setProperty("colour", colour)
            label.setStyleSheet(f"color: {colour}")

    @staticmethod
    def _say(label: QtWidgets.QLabel, text: str, colour: str = MUTED) -> None:
        label.setText(f"<span style='color:{colour}'>{html.escape(text)}</span>" if text else "")
        label.setToolTip(text)
