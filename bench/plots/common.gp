# Shared by every plot: SVG of one size and style. Run with -e "dir='DATA_DIR'" -e "root='REPO'".
set terminal svg size 760,420 dynamic font "sans,11" background rgb "white"
set grid ytics lc rgb "#dddddd"
set key top left
set border 3
set tics nomirror
