# docs/bench.png: durable-append throughput against threads, from the sweep
# medians that `make bench` writes. Usage:
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
plot for [i=2:*] datafile using 1:i with linespoints lw 2 pt 7 title columnheader(i)
