# Deploys under load (bench-deploy): p99 latency per 1 s load window, then worker processes and
# the server's total PSS, from deploy-timeline{-latency,,-deploys}.tsv.
load root.'/bench/plots/common.gp'
set terminal svg size 820,640 dynamic font "sans,11" background rgb "white"
set output dir.'/deploy.svg'
stats dir.'/deploy-timeline.tsv' using 1 nooutput
set xrange [STATS_min:STATS_max]
stats dir.'/deploy-timeline-latency.tsv' using 3 nooutput
p99_top = STATS_max * 1.15
set multiplot layout 2,1 title "Deploys under load (time 0: the run with deploys begins; before it: steady)"
set key top left
set ylabel "p99 per 1 s window (ms)"
set yrange [0:p99_top]
set xlabel ""
plot dir.'/deploy-timeline-latency.tsv' using 1:3 with linespoints lw 2 pt 7 title "p99", \
     '' using 1:2 with linespoints lw 1 pt 6 title "p50", \
     dir.'/deploy-timeline-deploys.tsv' using 1:(p99_top) with impulses dt 2 lc rgb "gray40" \
       title "deploy (SIGHUP)"
set xlabel "seconds"
set ylabel "worker processes"
set y2label "total PSS (MiB)"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key bottom right
set border 11
plot dir.'/deploy-timeline.tsv' using 1:2 with steps lw 2 title "worker processes", \
     '' using 1:3 axes x1y2 with lines lw 2 title "total PSS (MiB)", \
     dir.'/deploy-timeline-deploys.tsv' using 1:2 with impulses dt 2 lw 1 lc rgb "gray40" \
       title "deploy (SIGHUP)"
unset multiplot
