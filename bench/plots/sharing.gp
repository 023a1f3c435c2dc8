# Memory per worker against requests served (bench-sharing), from sharing.dat and sharing.labels.gp.
# Columns of sharing.dat: K, then USS and PSS of zygote, zygote --huge-pages and solo at D=0
# (2-7), then the same at D=dirty (8-13). Dashed: --huge-pages; a missing series is NaN.
load root.'/bench/plots/common.gp'
load dir.'/sharing.labels.gp'
set output dir.'/sharing.svg'
set terminal svg size 900,440 dynamic font "sans,11" background rgb "white"
set multiplot layout 1,2 title sprintf("Memory per process, %s MiB preloaded, %s processes", preload, workers)
set xlabel "requests per process (average)"
set ylabel "MiB"
set key left center font ",9"
set xtics rotate by -30
set yrange [0:*]
set title "USS (private)"
plot dir.'/sharing.dat' using 0:2:xtic(1) with linespoints lw 2 lc 1 pt 7 title "zygote workers, D=0", \
     '' using 0:4 with linespoints lw 2 lc 1 dt 2 pt 6 title "zygote workers --huge-pages, D=0", \
     '' using 0:6 with linespoints lw 2 lc 2 pt 5 title "solo processes, D=0", \
     '' using 0:8 with linespoints lw 2 lc 3 pt 9 title sprintf("zygote workers, D=%s", dirty), \
     '' using 0:10 with linespoints lw 2 lc 3 dt 2 pt 8 title sprintf("zygote workers --huge-pages, D=%s", dirty), \
     '' using 0:12 with linespoints lw 2 lc 4 pt 11 title sprintf("solo processes, D=%s", dirty)
set title "PSS (proportional)"
plot dir.'/sharing.dat' using 0:3:xtic(1) with linespoints lw 2 lc 1 pt 7 title "zygote workers, D=0", \
     '' using 0:5 with linespoints lw 2 lc 1 dt 2 pt 6 title "zygote workers --huge-pages, D=0", \
     '' using 0:7 with linespoints lw 2 lc 2 pt 5 title "solo processes, D=0", \
     '' using 0:9 with linespoints lw 2 lc 3 pt 9 title sprintf("zygote workers, D=%s", dirty), \
     '' using 0:11 with linespoints lw 2 lc 3 dt 2 pt 8 title sprintf("zygote workers --huge-pages, D=%s", dirty), \
     '' using 0:13 with linespoints lw 2 lc 4 pt 11 title sprintf("solo processes, D=%s", dirty)
unset multiplot
