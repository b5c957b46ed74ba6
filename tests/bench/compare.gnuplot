# compare.gnuplot - the chart of tests/bench/compare.sh.
#
#   gnuplot -e "datafile='compare.dat'; memfile='compare-mem.dat'; pipefile='compare-pipe.dat'" \
#           -e "outfile='compare.png'; charttitle='...'; mementries='...'; pipesize=128" \
#           tests/bench/compare.gnuplot
#
# Seven panels, one per op: ops/s (log scale) by client count (1, 4, 16) for every peer and
# transport; the raw nng line is the echo's round trips per second over the op's round trips,
# i.e. what syncmgr would do if its only cost were nng's. An eighth: batch16.set, syncmgr's
# atomic batches of 16 sets against Redis pipelines of 16 HSET, also at 50 clients. A ninth:
# pipe.set, one syncmgr process sending pipesize sets a round trip, in bars beside Redis's
# unpipelined dict.set at 16 clients. A tenth: server memory per dict entry. compare.dat holds
# one block per op (gnuplot index 0..7, batch16.set last), columns:
#   clients syncmgr_ipc syncmgr_tcp nng_ipc nng_tcp redis_unix redis_tcp python_unix
#   python_tcp python_naive_unix python_naive_tcp
# compare-mem.dat holds "label" bytes-per-entry lines, compare-pipe.dat "label" ops/s lines
# (either may be empty).

set terminal pngcairo size 2250,1050 font "DejaVu Sans,11" noenhanced
set output outfile

ops = "dict.set dict.get list.append list.pop counter.incr lock queue"
subtitles = "'1 round trip' '1 round trip' '1 round trip' '1 round trip' \
'1 round trip (Python: 4, under a Lock)' 'acquire + release: 2 round trips' \
'put + get: 2 round trips'"

# One colour per peer; ipc:// and unix sockets solid, tcp dashed.
set style line 1 lc rgb "#1f4e9c" lw 3 pt 7 ps 1.3 dt 1
set style line 2 lc rgb "#1f4e9c" lw 3 pt 5 ps 1.3 dt 2
set style line 3 lc rgb "#7f7f7f" lw 2 pt 7 ps 1.0 dt 1
set style line 4 lc rgb "#7f7f7f" lw 2 pt 5 ps 1.0 dt 2
set style line 5 lc rgb "#c0392b" lw 2 pt 7 ps 1.0 dt 1
set style line 6 lc rgb "#c0392b" lw 2 pt 5 ps 1.0 dt 2
set style line 7 lc rgb "#1e8449" lw 2 pt 7 ps 1.0 dt 1
set style line 8 lc rgb "#1e8449" lw 2 pt 5 ps 1.0 dt 2
set style line 9 lc rgb "#e67e22" lw 1.5 pt 6 ps 1.0 dt 3
set style line 10 lc rgb "#e67e22" lw 1.5 pt 4 ps 1.0 dt 3

set multiplot title charttitle font ",14"

# The panels sit in a 5 x 2 grid above a strip that holds the one legend.
pw = 0.2
ph = 0.43
strip = 0.09
set size pw, ph

set logscale xy
set xrange [0.8:20]
set xtics ("1" 1, "4" 4, "16" 16)
set mxtics default
set format y "%.0s%c"
set grid xtics ytics mytics lc rgb "#dddddd"
set xlabel "clients" offset 0,0.5
set ylabel "ops/s"
set key off
set tmargin 3.5
set lmargin 9

do for [i = 1:7] {
    col = (i - 1) % 5
    row = (i - 1) / 5
    set origin col * pw, strip + (1 - row) * ph
    set title sprintf("%s\n%s", word(ops, i), word(subtitles, i)) font ",11"
    plot datafile index (i - 1) using 1:2 with linespoints ls 1, \
         ''       index (i - 1) using 1:3 with linespoints ls 2, \
         ''       index (i - 1) using 1:4 with linespoints ls 3, \
         ''       index (i - 1) using 1:5 with linespoints ls 4, \
         ''       index (i - 1) using 1:6 with linespoints ls 5, \
         ''       index (i - 1) using 1:7 with linespoints ls 6, \
         ''       index (i - 1) using 1:8 with linespoints ls 7, \
         ''       index (i - 1) using 1:9 with linespoints ls 8, \
         ''       index (i - 1) using 1:10 with linespoints ls 9, \
         ''       index (i - 1) using 1:11 with linespoints ls 10
}

# batch16.set: syncmgr and Redis only, at 50 clients too.
set origin 2 * pw, strip
set title "batch16.set\n16 sets a round trip (Redis: 16 HSET pipelined)" font ",11"
set xrange [0.8:70]
set xtics ("1" 1, "4" 4, "16" 16, "50" 50)
plot datafile index 7 using 1:2 with linespoints ls 1, \
     ''       index 7 using 1:3 with linespoints ls 2, \
     ''       index 7 using 1:6 with linespoints ls 5, \
     ''       index 7 using 1:7 with linespoints ls 6

# pipe.set and memory per entry: one bar per measure.
unset logscale
unset mxtics
unset xlabel
set xrange [-0.6:3.6]
set boxwidth 0.6
set style fill solid 0.8 border -1
barcolour(s) = strstrt(s, "syncmgr") ? 0x1f4e9c : (strstrt(s, "Redis") ? 0xc0392b : 0x1e8449)

set origin 3 * pw, strip
set xtics rotate by 0 font ",10"
set ytics
set ylabel "sets/s"
set format y "%.0s%c"
if (system("test -s '" . pipefile . "' && echo yes") eq "yes") {
    stats pipefile using 2 nooutput
    set yrange [0:STATS_max * 1.2]
    set title sprintf("pipe.set: 1 process, %d sets a round trip,\nagainst " . \
                      "Redis unpipelined at 16 clients", pipesize) font ",11"
    plot pipefile using 0:2:(barcolour(strcol(1))):xtic(1) with boxes lc rgb variable, \
         ''       using 0:2:(sprintf("%.0fk", $2 / 1000)) with labels offset 0,0.8 font ",11"
} else {
    set yrange [0:1]
    unset ytics
    unset xtics
    unset ylabel
    set title "pipe.set\nnot measured" font ",11"
    set label 1 "not measured" at graph 0.5, 0.5 center
    plot NaN notitle
    unset label 1
}

set origin 4 * pw, strip
set xtics rotate by 0 font ",10"
set ytics
set ylabel "bytes per entry"
set format y "%g"
set title "server memory per dict entry\nnot measured" font ",11"
if (system("test -s '" . memfile . "' && echo yes") eq "yes") {
    stats memfile using 2 nooutput
    set yrange [0:STATS_max * 1.2]
    set title sprintf("server memory per dict entry\n%s entries, 16-byte keys and values", \
                      mementries) font ",11"
    plot memfile using 0:2:(barcolour(strcol(1))):xtic(1) with boxes lc rgb variable, \
         ''      using 0:2:(sprintf("%.0f", $2)) with labels offset 0,0.8 font ",11"
} else {
    set yrange [0:1]
    unset ytics
    unset xtics
    unset ylabel
    set label 1 "not measured" at graph 0.5, 0.5 center
    plot NaN notitle
    unset label 1
}

# The legend strip.
set origin 0, 0
set size 1, strip
unset title
unset border
unset tics
unset xlabel
unset ylabel
unset grid
set xrange [0:1]
set yrange [0:1]
set tmargin 0
set bmargin 0
set key center center horizontal maxrows 2 width 3 font ",11" samplen 4 Left reverse
plot NaN with linespoints ls 1 title "syncmgr ipc://", \
     NaN with linespoints ls 2 title "syncmgr tcp", \
     NaN with linespoints ls 3 title "raw nng echo ipc:// (per op)", \
     NaN with linespoints ls 4 title "raw nng echo tcp (per op)", \
     NaN with linespoints ls 5 title "Redis unix socket", \
     NaN with linespoints ls 6 title "Redis tcp", \
     NaN with linespoints ls 7 title "Python manager unix socket", \
     NaN with linespoints ls 8 title "Python manager tcp", \
     NaN with linespoints ls 9 title "Python naive get+set (unix)", \
     NaN with linespoints ls 10 title "Python naive get+set (tcp)"

unset multiplot
