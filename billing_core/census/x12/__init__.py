"""ANSI X12 834 benefit enrollment files (005010X220A1, and the older 004010X095A1) read into
the normalised census (census.rows), and the 999 that answers them. The package:

* `reader`: `read_834`, the reader class and its run over the segments;
* `interchange`: the envelope (ISA/GS/ST/BGN...SE/GE/IEA), the state of a read and how its
  problems are recorded; `members`: the member loops (INS, REF, DTP, NM1, DMG, ICM, HD, AMT);
  `closing`: what is checked once a loop ends (coverage dates, families); each a layer of the
  reader class, in that order; `columns`: the member loops of a plain full file read straight
  into census.rows.MemberColumns (anything else is read by the handlers, segment by segment);
* `codes`: the code lists and the decisions on them; `tolerance`: deviations read through;
  `loops`: a member and a coverage loop while they are read;
* `ack`: the 999 acknowledgement.

The tokenizer (billing_core.x12_envelope, shared with the 820 reader) takes the separators
the ISA declares (element = ISA byte 3, component = ISA16, segment terminator = the character
after ISA16, repetition = ISA11 in 5010) and copes with what real senders send: a UTF-8 BOM,
an ISA that is not fixed width, `~`, `~\\n`, `~\\r\\n` or newline-only terminators, lines
wrapped mid-segment, indentation, Unicode line separators, a terminator lost before a line
break, several GS and ST/SE sets. Bad content never raises.

Problems come in two kinds (CensusFile.errors, .warnings). An error means the file cannot be
applied as sent: a date that is not a date, a code that says nothing known, an envelope that
cannot be trusted (no IEA, counts of sets that do not add up), a file that is not an employer
group's benefit enrollment (the exchange 834 005010X307, no BGN, no sponsor or payer loop, a
full file that only adds). A warning is a deviation real senders make that is read the way
they meant it (see `tolerance`): an SE01 count that is off, INS05 blank, INS codes or
the BGN action code one element late, REF*OF for REF*0F, a subscriber that is not self (a
child-only policy), an unknown HD01 on one line (that line is skipped), `;`-packed values, a
GS08 naming another guide while ST01 says 834, an SSN never issued, a member sent twice. Each
names the place ("ST 0001, INS #12 (employee 1001), segment 145"), the element ("DMG02") and
the value.

What a change file asks for is carried per person and per line. A dependent loop with no
subscriber loop before it in its transaction set is dependent-only maintenance: it becomes a
`dependents_only` row naming the subscriber by the dependent's REF*0F (or joins that
subscriber's row when its loop came in an earlier set of the file: one ST per person); a
dependent loop after a subscriber loop belongs to it by order, even when its REF*0F differs
(de-identified feeds scramble it: a warning). Whether the named subscriber is enrolled is the
diff's question. HD01 is read per line: an added line has its begin date, a changed one its DTP*303 date, an ended
(024) or deleted (002) one its end date. A line's end is its DTP*349, else the member's
DTP*357 (eligibility end) or a DTP*349 misplaced in loop 2000; `22991231` and later are "no
end". A cancel from inception (DTP*348 = DTP*349) is kept as a line ended the day before it
began (decision: dropping the line would leave an enrolled coverage billed; ending it before
its start reaches the diff and bills nothing), with a warning. A death (INS12, INS04 03) ends
every line at the date of death and makes the row a termination whatever INS03 says.

The code mappings (which INS02 is a child, which HD03 is which line, which HD05 which tier,
how ICM01 annualises...) are decisions, written down beside their tables in `codes`.
"""

from __future__ import annotations

from billing_core.census.x12.ack import ACK_VERSION, acknowledgement_999
from billing_core.census.x12.interchange import EXCHANGE_834, VERSION_4010, VERSION_5010
from billing_core.census.x12.reader import read_834, segments, split_interchange

__all__ = [
    "ACK_VERSION",
    "EXCHANGE_834",
    "VERSION_4010",
    "VERSION_5010",
    "acknowledgement_999",
    "read_834",
    "segments",
    "split_interchange",
]
