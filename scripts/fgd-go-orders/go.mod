module gigafab/fgd-go-orders

go 1.19
