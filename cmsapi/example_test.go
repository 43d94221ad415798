package cmsapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"

	"github.com/sipcast/sipcast/cmsapi"
)

// A CMS-compatible API server (configuration objects only: no Backend) and the client
// talking to it as TMS would.
func Example() {
	srv := cmsapi.NewServer(cmsapi.ServerConfig{User: "admin", Password: "secret"})
	defer srv.Close()
	hs := httptest.NewServer(srv) // use an HTTPS listener in production
	defer hs.Close()

	ctx := context.Background()
	c, err := cmsapi.NewClient(hs.URL, "admin", "secret")
	if err != nil {
		panic(err)
	}
	id, err := c.CreateObject(ctx, "coSpaces", &cmsapi.CoSpace{Name: "Board Room", URI: "Board.Room",
		StreamURL: "rtmp://live.example.com/app/board"})
	if err != nil {
		panic(err)
	}
	space, _ := cmsapi.GetObject[cmsapi.CoSpace](ctx, c, "coSpaces/"+id)
	fmt.Println(space.Name, space.URI, space.StreamURL)

	// A PUT changes only what it carries; an empty value clears a parameter.
	_ = c.Update(ctx, "coSpaces/"+id, url.Values{"streamUrl": {""}})
	space, _ = cmsapi.GetObject[cmsapi.CoSpace](ctx, c, "coSpaces/"+id)
	fmt.Printf("%s %q\n", space.Name, space.StreamURL)

	_, err = cmsapi.GetObject[cmsapi.CoSpace](ctx, c, "coSpaces/no-such-space")
	var apiErr *cmsapi.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Status, apiErr.Failure, errors.Is(err, cmsapi.ErrDoesNotExist))
	}
	// Output:
	// Board Room board.room rtmp://live.example.com/app/board
	// Board Room ""
	// 400 coSpaceDoesNotExist true
}

// Two stores over one journal are two API nodes sharing their configuration (in
// production the journal is PostgreSQL: package cmsapi/pgstore): a space created
// through one is routed by the other, and its URI is taken on both.
func ExampleNewSharedStore() {
	ctx := context.Background()
	journal := cmsapi.NewMemoryJournal()
	a, _ := cmsapi.NewSharedStore(ctx, journal)
	b, _ := cmsapi.NewSharedStore(ctx, journal)

	if _, err := a.Create(&cmsapi.CoSpace{Name: "Board Room", URI: "board.room"}, ""); err != nil {
		panic(err)
	}
	space, ok := b.SpaceFor("board.room")
	fmt.Println(ok, space.Name)
	_, err := b.Create(&cmsapi.CoSpace{Name: "Another", URI: "board.room"}, "")
	fmt.Println(err)
	// Output:
	// true Board Room
	// duplicateCoSpaceUri
}
