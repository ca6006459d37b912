// `sega`: the command-line tool; the commands are in SegaCLI.
import SegaCLI

CommandLineCheck.refuseOptionLikeFileNames()
SegaCommand.main()
