// A Go client of im-repo's user service: registers a user, then reads the reason of an error.
// Build: generate the stubs (README, "Go client"), then `go build` in GOPATH or module mode.
// grpc.WithInsecure rather than insecure.NewCredentials: it also builds with Debian 12's grpc 1.33.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	userv1 "github.com/im-repo/im-repo/gen/go/im/user/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

func main() {
	addr := "127.0.0.1:8081"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	conn, err := grpc.Dial(addr, grpc.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	users := userv1.NewUserServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	name := fmt.Sprintf("go%d", time.Now().UnixNano()%1e9)
	res, err := users.Register(ctx, &userv1.RegisterRequest{Username: name, Password: "secret-password"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("registered", res.User.UserId, res.User.Username)

	// The same username again: ALREADY_EXISTS with reason USERNAME_TAKEN in a google.rpc.ErrorInfo.
	_, err = users.Register(ctx, &userv1.RegisterRequest{Username: name, Password: "secret-password"})
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			fmt.Println("error", st.Code(), info.Reason, info.Domain)
		}
	}
}
