# Time to a ready worker that served its first request (bench-ready), from ready.dat.
load root.'/bench/plots/common.gp'
set output dir.'/ready.svg'
set title "Time to a worker's first served request"
set xlabel "memory the app preloads (MiB)"
set ylabel "milliseconds (log)"
set logscale xy
set xtics (16, 64, 256, 1024)
plot dir.'/ready.dat' using 1:2 with linespoints lw 2 pt 7 title "forked from the zygote", \
     '' using 1:5 with linespoints lw 2 dt 2 pt 6 title "forked from the zygote, --huge-pages", \
     '' using 1:3 with linespoints lw 2 pt 5 title "cold: new zygote-real", \
     '' using 1:4 with linespoints lw 2 pt 9 title "cold: new process loading the app (bench-solo)"
