# docs/bench.png: durable-append throughput against threads (1, 2, 4, 8, 16)
# for libwal, the floor and every peer (okaywal included), from the medians
# of the sweep that `make bench` writes. Usage:
#   gnuplot -e "datafile='build/bench-sweep.dat'; outfile='docs/bench.png'" bench/plot.gp
machine = system("head -n 1 '" . datafile . "' | cut -c3-")
set terminal pngcairo size 1000,600 font ",10"
set output outfile
set title "Durable appends of 100 B (16 B keys), records/s against threads\n" . machine noenhanced
set datafile missing "-"
set key below noenhanced
set logscale x 2
set logscale y
set xrange [0.8:20]
set xtics (1, 2, 4, 8, 16)
set xlabel "threads"
set ylabel "records/s (log scale)"
set grid
# Column 2 is libwal (drawn thickest), column 3 the floor (dashed), then the
# peers, okaywal among them (bench.c's engine order).
plot datafile using 1:2 with linespoints lw 4 pt 7 title columnheader(2), \
     '' using 1:3 with linespoints lw 2 dt 2 pt 7 title columnheader(3), \
     for [i=4:*] '' using 1:i with linespoints lw 2 pt 7 title columnheader(i)
