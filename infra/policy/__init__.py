"""edgefill's policy pack: the rules every stack must meet, as plain validator functions."""
