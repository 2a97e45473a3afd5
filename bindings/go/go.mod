module github.com/libwal/libwal/bindings/go

go 1.19
