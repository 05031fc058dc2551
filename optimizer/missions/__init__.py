"""Missions (SPEC §16): the plan for M+1 turned into what each patrol unit does, shift by
shift — which unit makes which visits, in what order, when, with the drive between stops
counted and every route back at the station by the end of its shift.

Modules: `columns` (the output columns), `units` (a station's units per day and shift),
`travel` (travel times, straight line or road network), `visits` (a month's visits per day
with their revisit windows), `routing` (the prize-collecting routing per station, day and
shift), `drive` (the drive the LP holds back), `frames` (the output frames)."""
