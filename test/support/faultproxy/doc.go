// Package faultproxy is an in-process TCP proxy that injects network faults
// between a test's clients and a real server (PostgreSQL, Redis): added
// latency in either direction, a blackhole that holds data without
// resetting connections (a partition as TCP sees it), a reset of every
// open connection, and heal.
//
// What it promises:
//
//   - It listens on 127.0.0.1 only and forwards only to loopback targets;
//     Start refuses any other address, so a test cannot aim it at a real
//     network.
//   - Bytes are delivered in order and never dropped while a connection is
//     open: a blackhole holds them (and TCP back-pressure then stalls the
//     sender) until Heal, as a partition that heals before TCP gives up
//     would. Reset is the only fault that loses data.
//   - Latency is fixed per chunk when the chunk is read, so changing it
//     never reorders bytes already in flight.
//   - Controls apply to connections already open and to new ones alike.
//   - Close stops every goroutine it started before returning.
package faultproxy
